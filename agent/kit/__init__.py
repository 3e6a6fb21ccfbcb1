"""The chain kit: the rehearsal network built from a profile's two binaries.

``forms`` and ``genesis`` are pure (what each SDK line's CLI and genesis look like);
the rest builds binaries, images, node homes and Compose files from them.
"""
