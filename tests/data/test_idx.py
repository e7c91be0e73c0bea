"""Reading IDX files: a damaged one is named."""

import gzip

import pytest

from bnorder_tf import data


def test_malformed_idx_file_is_named(tmp_path, fashion_dir):
    directory = fashion_dir[0]
    path = directory / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path, "rb") as f:
        content = f.read()
    with gzip.open(path, "wb") as f:
        f.write(content[:-100])
    with pytest.raises(data.MalformedFileError, match="truncated or corrupt"):
        data.load(
            "fashion_mnist", "test", batch_size=4, data_dir=str(directory)
        )
