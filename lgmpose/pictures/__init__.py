"""Training pictures fetched from public sources and written as folders with their file lists:
the "registry pictures" (:mod:`.registry_pictures`) and the "everyday pictures"
(:mod:`.everyday_pictures`). Run as ``python -m lgmpose.pictures.<module>``."""
