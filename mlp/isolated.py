"""Reading a large model file in a short-lived child process.

Parsing JSON holds the GIL for as long as the parser runs, and its Python objects take
several times the file's size: a server thread loading a new version in the background would
stall every request its process answers meanwhile, and the process would keep the peak of
that memory. So a file larger than ``ISOLATE_ABOVE`` bytes is read by a child process
(``python -m mlp.isolated``), handed the open file itself (it reads exactly the file its
parent checked): it parses and checks it as ``mlp.load_file`` does and sends the network
back pickled (protocol 5: its arrays as raw bytes). The parent only waits on a pipe, without
the GIL, and copies arrays. ``python -m benchmarks.model_load`` measures the stall and the
memory, in process and isolated.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

from mlp.errors import ModelFileError

# A file this size holds the GIL for tens of milliseconds when parsed in process, no longer than
# the stalls left while a child reads a large one; a child costs about 0.15 s of CPU and half a
# second to start (Python and numpy), worth it only above. benchmarks.model_load prints both.
ISOLATE_ABOVE = 1024 * 1024
TIMEOUT = 300.0  # seconds; a 62 MiB file took 8 s on a busy machine (benchmarks.model_load)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def load_in_child(fd: int, source: str, *, with_optimizer: bool = True, timeout: float = TIMEOUT):
    """The network in the open file ``fd``, read by a child process; ModelFileError as
    ``mlp.load_file`` raises it, or if the child fails (killed, out of memory, too slow)."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": _PACKAGE_ROOT + (os.pathsep + path if path else ""),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # one probe pass: threads cost more than they save
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlp.isolated", str(fd), "1" if with_optimizer else "0", source],
        pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ModelFileError(f"{source}: reading it took longer than {timeout:g} s; gave up",
                             "reading it took too long") from None
    if proc.returncode != 0 or not out:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise ModelFileError(f"{source}: the process reading it failed ({tail[0][:200]})",
                             "the process reading it failed (out of memory?)")
    kind, *rest = pickle.loads(out)  # our own child's answer
    if kind == "ok":
        return rest[0]
    raise ModelFileError(*rest)


def main(argv: list[str]) -> None:
    from mlp.serialization import load_file

    fd, with_optimizer, source = int(argv[0]), argv[1] == "1", argv[2]
    try:
        with os.fdopen(fd, "rb") as f:
            answer = ("ok", load_file(f, source, with_optimizer=with_optimizer, isolate_above=0))
    except ModelFileError as e:
        answer = ("error", str(e), e.summary)
    except MemoryError:
        answer = ("error", f"{source}: out of memory while reading it", "it is too large to read")
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=5))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
