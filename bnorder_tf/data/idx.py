"""Reading IDX files (MNIST, Fashion-MNIST), gzipped or not."""

import gzip
import struct

import numpy as np

from bnorder_tf.errors import MalformedFileError  # noqa: F401 (re-exported)

_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path):
    """Returns the array stored in an IDX file.

    Args:
        path: a `.gz` or plain IDX file.

    Returns:
        A NumPy array of the file's shape and type.

    Raises:
        MalformedFileError: if the file is not a well-formed IDX file.

    Example:
    A gzipped IDX file of four uint8 labels, written here by hand:

    >>> import gzip, os, struct, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "t10k-labels-idx1-ubyte.gz")
    >>> with gzip.open(path, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 0x08, 1]))  # uint8, one dimension
    ...     _ = f.write(struct.pack(">I", 4))  # of size 4
    ...     _ = f.write(bytes([9, 2, 1, 1]))
    >>> read_idx(path)
    array([9, 2, 1, 1], dtype=uint8)
    >>> folder.cleanup()
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise MalformedFileError(f"{path}: cannot read ({error}).") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise MalformedFileError(f"{path}: not an IDX file (bad magic).")
    dtype_code, ndim = data[2], data[3]
    if dtype_code not in _DTYPES or ndim == 0:
        raise MalformedFileError(f"{path}: unknown IDX type {dtype_code:#x}.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MalformedFileError(f"{path}: truncated IDX header.")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[dtype_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise MalformedFileError(
            f"{path}: holds {len(data) - header} bytes of data, its header "
            f"announces {expected} (shape {shape}): the file is truncated "
            "or corrupt; download it again."
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape)
