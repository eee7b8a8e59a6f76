"""The Ray options of the sub-commands that can run on Ray (``predict``, ``pseudo-label``); the
argument types shared with other entry points are in :mod:`lgmpose.utils.cli_options`."""
from __future__ import annotations

import argparse

from lgmpose.utils.cli_options import positive_int

__all__ = ["add_engine_options", "ray_options"]


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """``--engine ray`` and its options (``predict``, ``pseudo-label``; docs/ray.md)."""
    group = parser.add_argument_group("distributed run (docs/ray.md; needs lgmpose[ray])")
    group.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: this process (default); ray: a pool of Ray workers, each "
                            "loading the models once, with a resumable sharded output")
    group.add_argument("--ray-address", metavar="ADDR",
                       help="join this Ray cluster (auto: the one `ray start` made here); "
                            "default: start a local Ray on this machine for the run")
    group.add_argument("--num-workers", type=positive_int, metavar="N",
                       help="Ray workers (default: the cluster's CPUs / threads per worker)")


def ray_options(args: argparse.Namespace, progress: bool = True):
    """The Ray settings of a command's arguments; refuses them without ``--engine ray``."""
    from lgmpose.errors import LgmposeError

    if args.engine != "ray":
        for option in ("ray_address", "num_workers"):
            if getattr(args, option) is not None:
                raise LgmposeError(f"--{option.replace('_', '-')}: only applies with "
                                   "--engine ray")
        return None
    from lgmpose.distributed_inference.ray_runner import RayOptions

    return RayOptions(address=args.ray_address, num_workers=args.num_workers,
                      cpus_per_worker=float(args.threads or 1), progress=progress)
