"""Hostile dataset files and images: compressed files that inflate to gigabytes, headers with
absurd sizes, images past the pixel limit. Each is refused before the memory is spent, with an
error naming the file and the limit, under a 1 GiB address-space limit."""

import gzip
import io
import re
import tarfile
import zipfile

import numpy as np
import pytest
from hostile import png_header, run_cases
from PIL import Image

from striate.datasets._idx import MAX_IDX_BYTES


def _idx_header(dims, type_code=0x08):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


def _files(root):
    """{case: (file, loader call, expected error type, what the message says)}."""
    (root / "absurd.gz").write_bytes(gzip.compress(_idx_header([2**31, 2**31, 9]) + bytes(100)))
    (root / "absurd.raw").write_bytes(_idx_header([60000, 2**30, 28]) + bytes(100))
    (root / "floats.gz").write_bytes(gzip.compress(_idx_header([2**15, 2**15], 0x0E)))
    bomb = gzip.compress(_idx_header([2000, 2000, 100]) + bytes(2000 * 2000 * 10), 1)
    (root / "bomb.gz").write_bytes(bomb)  # says 400 MB, over MAX_IDX_BYTES; holds 40 MB
    (root / "lying.gz").write_bytes(gzip.compress(_idx_header([10, 28, 28]) + bytes(10**7), 1))
    (root / "cut.gz").write_bytes(gzip.compress(_idx_header([10, 28, 28]) + bytes(7840))[:-30])
    with zipfile.ZipFile(root / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x_train.npy", _npy_header((20000, 20000)) + bytes(2**20))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        info.size = 80_000_000
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    (root / "cifar.tar.gz").write_bytes(buffer.getvalue())
    (root / "bomb.png").write_bytes(png_header(13000, 13000))
    (root / "wide.png").write_bytes(png_header(2**20, 100))
    read = "from striate.datasets._idx import read_idx; read_idx"
    return {
        "idx absurd dims gz": (
            "absurd.gz",
            read,
            "CorruptDatasetError",
            r"absurd.gz: its IDX header says 2147483648 x 2147483648 x 9 .*"
            r"MAX_IDX_BYTES",
        ),
        "idx absurd dims raw": (
            "absurd.raw",
            read,
            "CorruptDatasetError",
            r"absurd.raw: .*over "
            r"the limit",
        ),
        "idx floats": ("floats.gz", read, "CorruptDatasetError", r"floats.gz: .*8 byte"),
        "idx bomb": ("bomb.gz", read, "CorruptDatasetError", r"bomb.gz: .*400000000 bytes"),
        "idx trailing": (
            "lying.gz",
            read,
            "CorruptDatasetError",
            r"lying.gz: IDX file has "
            r"trailing bytes",
        ),
        "idx truncated gzip": (
            "cut.gz",
            read,
            "CorruptDatasetError",
            r"cut.gz: corrupt or "
            r"truncated",
        ),
        "npz bomb": (
            "bomb.npz",
            "from striate.datasets._idx import load_npz; lambda p: load_npz(p, 'mnist')",
            "CorruptDatasetError",
            r"bomb.npz: x_train.npy says it holds 1600000000 "
            r"bytes of data but has 1048576",
        ),
        "cifar member": (
            "cifar.tar.gz",
            "from striate.datasets.cifar10 import _from_archive; _from_archive",
            "CorruptDatasetError",
            r"data_batch_1.bin says it holds 80000000 bytes",
        ),
        "load_image bomb": (
            "bomb.png",
            "from striate.datasets.images import load_image; load_image",
            "ValueError",
            r"bomb.png is 13000x13000 = 169000000 pixels, over the limit",
        ),
        "load_image wide": (
            "wide.png",
            "from striate.datasets.images import load_image; load_image",
            "ValueError",
            r"MAX_IMAGE_PIXELS",
        ),
        "digit photo bomb": (
            "bomb.png",
            "from striate.datasets.digit_photo import load_digit_photo; load_digit_photo",
            "ValueError",
            r"bomb.png is 13000x13000",
        ),
        "see picture bomb": (
            "bomb.png",
            "from striate.see.inputs import load_picture; lambda p: load_picture(p, (28, 28, 1))",
            "ValueError",
            r"bomb.png is 13000x13000",
        ),
    }


def _npy_header(shape):
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape!r}, }}"
    header = header + " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


def test_every_hostile_dataset_file_and_image_is_refused_naming_the_file(tmp_path):
    cases = _files(tmp_path)
    body = ""
    for case, (name, loader, _, _) in cases.items():
        importing, function = loader.split("; ", 1)
        body += f"{importing}\nreport({case!r}, lambda: ({function})({str(tmp_path / name)!r}))\n"
    outcomes, result = run_cases(body)
    assert set(outcomes) == set(cases), result.stderr[-3000:]
    wrong = [
        (case, expected, outcomes[case])
        for case, (_, _, kind, expected) in cases.items()
        if outcomes[case]["type"] != kind or not re.search(expected, outcomes[case]["message"])
    ]
    assert not wrong, "\n".join(map(str, wrong))


def test_the_idx_limit_keeps_room_for_every_real_dataset():
    assert 60000 * 28 * 28 < MAX_IDX_BYTES < 2**30


@pytest.mark.slow  # decodes a 64-megapixel photo under the memory limit
def test_a_big_photo_under_the_pixel_limit_fits_in_bounded_memory(tmp_path):
    photo = Image.new("RGBA", (8000, 8000), (255, 255, 255, 255))
    photo.paste((0, 0, 0, 255), (3800, 1000, 4200, 7000))
    photo.save(tmp_path / "big.png", compress_level=1)
    body = f"""
from striate.datasets.digit_photo import load_digit_photo
from striate.datasets.images import load_image
report("digit", lambda: load_digit_photo({str(tmp_path / "big.png")!r}).shape)
report("image", lambda: load_image({str(tmp_path / "big.png")!r}, (32, 32), "rgb").shape)
"""
    outcomes, result = run_cases(body)
    assert outcomes.get("digit", {}).get("message") == "(28, 28)", (outcomes, result.stderr)
    assert outcomes.get("image", {}).get("message") == "(32, 32, 3)", outcomes
    assert np.prod([8000, 8000]) < 2**26


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        from striate.datasets.images import load_image

        load_image(fifo, (8, 8))


def test_a_folder_too_big_for_memory_is_refused_before_allocating(tmp_path, monkeypatch):
    from striate.datasets import image_folder

    pil = pytest.importorskip("PIL.Image")
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            pil.new("L", (4, 4)).save(tmp_path / label / f"{i}.png")
    monkeypatch.setattr(image_folder, "MAX_FOLDER_BYTES", 6 * 16 * 16 - 1)
    with pytest.raises(ValueError, match=r"6 images of 16x16x1 take 1,536 bytes, over the limit"):
        image_folder.load_image_folder(
            tmp_path, image_size=(16, 16), color_mode="grayscale", verbose=False
        )
