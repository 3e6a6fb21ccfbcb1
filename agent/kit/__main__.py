"""``python -m agent.kit reset|ports-check KIT_DIR`` (the stack commands of a kit profile)."""

from agent.kit.build import main

raise SystemExit(main())
