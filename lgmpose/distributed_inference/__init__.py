"""``lgmpose predict`` and ``lgmpose pseudo-label`` over large collections on Ray (``--engine ray``).

Ray Data streams the work (groups of pictures, chunks of video frames) to a pool of actors that
each load the models once; the driver writes what comes back to a sharded, resumable output
(:mod:`.shards`) and merges it into the one-process commands' own output files
(:mod:`.merge_shards`).

Only :mod:`.ray_runner` imports Ray, and only when a run starts; the rest is NumPy and OpenCV,
so planning, resuming and merging are testable without Ray. Install it with
``pip install "lgmpose[ray]"``.
"""
