"""Uploaded images made into a model's input, the way `striate predict` reads files.

An upload is bytes, never a path: it is decoded from memory by Pillow, and its header's size is
checked against `MAX_UPLOAD_PIXELS` before any pixel is decoded (an image bomb is refused in one
line). Then the same steps as `striate predict`: the model's color mode, its input size with its
interpolation; for drawn digits (`digit=True`), the MNIST-like preparation of
`predict --digit-photo` (`striate.datasets.digit_photo.mnist_like`).
"""

import io

import numpy as np

from striate.serve.server import RequestError

MAX_UPLOAD_PIXELS = 2**24  # 16 MP: a photo, not a bomb


def decode(data, image_size, color_mode, interpolation="bilinear", digit=False):
    """Image bytes as uint8 (height, width, channels) for a model.

    Args:
        data: the file's bytes (PNG, JPEG, BMP, GIF). image_size: (height, width).
        color_mode: 'grayscale', 'rgb' or 'rgba'. interpolation: a `load_image` interpolation.
        digit: make it MNIST-like first (one-channel models; resized to `image_size` after).

    Raises:
        RequestError(415) for what is not an image; (413) for too many pixels; (422) for a
        drawing with no digit in it.
    """
    from striate.datasets.images import COLOR_MODES, INTERPOLATIONS, convert_mode, pillow

    Image, ImageOps = pillow()
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_UPLOAD_PIXELS:
                raise RequestError(
                    413,
                    f"the image is {width}x{height} = {width * height} pixels, over the limit "
                    f"of {MAX_UPLOAD_PIXELS} (striate.serve.uploads.MAX_UPLOAD_PIXELS)",
                )
            image.load()
            image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as error:  # over twice pillow's own limit
        raise RequestError(
            413,
            f"the image has more pixels than the limit of {MAX_UPLOAD_PIXELS} "
            f"(striate.serve.uploads.MAX_UPLOAD_PIXELS): {error}",
        ) from None
    except Image.UnidentifiedImageError:
        raise RequestError(
            415, "the upload is not an image Pillow can read (use PNG, JPEG, BMP or GIF)"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise RequestError(415, f"cannot decode the image: {error}") from None
    height, width = image_size
    method = getattr(Image.Resampling, INTERPOLATIONS[interpolation])
    if digit:
        from striate.datasets.digit_photo import mnist_like

        try:
            image = Image.fromarray(mnist_like(image))
        except ValueError as error:
            raise RequestError(422, str(error)) from None
    image = convert_mode(image, color_mode)
    if image.size != (width, height):
        image = image.resize((width, height), method)
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(array.shape[:2] + (COLOR_MODES[color_mode][1],))
