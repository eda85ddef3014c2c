"""What one submission's worker may use. Apart from the sandbox so that reading a manifest
does not import NumPy."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    cell_seconds: float = 30.0
    call_seconds: float = 5.0
    cpu_seconds: int = 300  # the worker's whole life
    submission_seconds: float = 600.0  # wall clock for everything one submission gets, restarts included
    memory_mb: int = 3072  # address space
    processes: int = 256  # processes and threads together where a cgroup counts them
    file_size_mb: int = 64
    start_seconds: float = 30.0
    disk_mb: int = 256  # under bubblewrap: the size of /tmp and of the submission folder, each
