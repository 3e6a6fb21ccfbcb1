"""Is the plan's binary staged under a node's Cosmovisor? Asked inside its container.

Used at launch (``runtime.executors.staged``: every node, before the proposal) and
by ``rehearse watch`` (``watchdog.staged_probe``: once the chain has a plan).
"""

from __future__ import annotations

from agent.adapters.docker import Docker

__all__ = ["STAGED_SCRIPT", "Staged", "staged"]

# $1 daemon home, $2 plan name, $3 binary. Exit 0: staged (or no Cosmovisor);
# exit 3: missing, the path looked for printed. Cosmovisor's own lookup is the plan
# name as given; some versions lower-case it, so either directory counts.
STAGED_SCRIPT = r"""home=$1 name=$2 bin=$3
[ -d "$home/cosmovisor" ] || exit 0
lower=$(printf '%s' "$name" | tr 'A-Z' 'a-z')
for d in "$home/cosmovisor/upgrades/$name" "$home/cosmovisor/upgrades/$lower"; do
  [ -x "$d/bin/$bin" ] && exit 0
done
printf '%s\n' "$home/cosmovisor/upgrades/$name/bin/$bin"
exit 3
"""

# (True, ""): staged or no Cosmovisor; (False, path): the path it lacks; None: no
# verdict (no shell in the image, say).
Staged = tuple[bool, str] | None


async def staged(
    docker: Docker, container: str, daemon_home: str, plan: str, binary: str, deadline: float
) -> Staged:
    """Raises ``CommandFailed`` when the container itself is gone."""
    argv = ["sh", "-c", STAGED_SCRIPT, "staged", daemon_home, plan, binary]
    r = await docker.exec(container, argv, deadline=deadline, check=False)
    if r.returncode == 3:
        lines = r.stdout.strip().splitlines()
        return False, lines[-1] if lines else "?"
    return (True, "") if r.returncode == 0 else None
