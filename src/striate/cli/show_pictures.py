"""The pictures of `striate show`, one handler per picture: each draws from a session (a model
and an input, `striate.cli.show_session`) with `striate.see`, and writes a file or returns the
terminal text."""

import sys

from striate.cli.common import UserError
from striate.cli.show_session import layer_of


def write(picture, args, default):
    from striate import see

    out = args.out or default
    see.save(picture, out)
    print(f"wrote {out}")


# -- the pictures -----------------------------------------------------------------------------
def filters(session, args, terminal=False):
    from striate import see
    from striate.layers import Conv2D

    index = layer_of(session, args, Conv2D, "Conv2D")
    if terminal:
        name, images = see.filter_images(session.model, index)
        pictures = [see.terminal.blocks(images[i, 0], args.color) for i in range(len(images))]
        return f"filters of {name} (input channel 0)\n" + see.terminal.side_by_side(
            pictures, [str(i) for i in range(len(images))]
        )
    write(see.filters(session.model, index), args, "filters.png")


def maps(session, args, terminal=False):
    from striate import see

    x, _ = session.input()
    inspection = see.inspect_model(session.model, x)
    layers = None if args.layer is None else [layer_of(session, args, object, "")]
    if terminal:
        return see.terminal.feature_maps_text(
            inspection, layers, args.max_channels, color=args.color
        )
    write(
        see.feature_maps(inspection, layers=layers, max_channels=args.max_channels),
        args,
        "maps.png",
    )


def conv(session, args):
    from striate import see
    from striate.layers import Conv2D

    index = layer_of(session, args, Conv2D, "Conv2D")
    x, _ = session.input()
    walk = see.layer_conv_walkthrough(
        session.model, index, x, args.filter, positions(session, args, index), args.channel
    )
    write(walk, args, "conv.gif")


def pool(session, args):
    from striate import see
    from striate.layers import AveragePooling2D, MaxPooling2D

    index = layer_of(session, args, (MaxPooling2D, AveragePooling2D), "pooling")
    x, _ = session.input()
    walk = see.layer_pool_walkthrough(
        session.model, index, x, args.channel or 0, positions(session, args, index)
    )
    write(walk, args, "pool.gif")


def positions(session, args, index):
    """--position, else the first --max-frames positions (all of a small map)."""
    if args.position is not None:
        return [args.position]
    if args.out and args.out.lower().endswith(".png"):
        return [(0, 0)]
    rows, cols = session.model.layers[index].output_shape[1:3]
    cells = [(r, c) for r in range(rows) for c in range(cols)]
    if len(cells) > args.max_frames:
        print(
            f"showing the first {args.max_frames} of {len(cells)} positions "
            f"(--max-frames, --position)",
            file=sys.stderr,
        )
    return cells[: args.max_frames]


def example(args):
    from striate import see

    if args.what == "conv":
        walk = see.article_conv_walkthrough(args.stride or 1, args.padding)
    else:
        stride = args.stride or 2
        walk = see.pool_walkthrough(
            see.POOL_EXAMPLE,
            2,
            stride,
            args.padding,
            args.mode,
            title=f"{'Max' if args.mode == 'max' else 'Average'} pooling, 2x2 windows",
        )
    if args.position is not None:
        walk.steps = [s for s in walk.steps if s.position == args.position]
        if not walk.steps:
            raise UserError(
                f"--position {args.position} is outside the "
                f"{walk.output.shape[0]}x{walk.output.shape[1]} output"
            )
    out = args.out or f"{args.what}.gif"
    walk.save(out, duration=args.duration)
    print(f"wrote {out} ({len(walk.steps)} frames)")


def field(session, args):
    from striate import see

    index = layer_of(session, args, object, "")
    layer = session.model.layers[index]
    position = args.position
    if position is None and len(layer.output_shape) == 4:
        position = (layer.output_shape[1] // 2, layer.output_shape[2] // 2)
    x, _ = session.input()
    write(
        see.receptive_field_picture(session.model, x, index, position, args.channel),
        args,
        "field.png",
    )


def probs(session, args, terminal=False):
    from striate import see

    x, label = session.input()
    inspection = see.inspect_model(session.model, x)
    if terminal:
        truth = "" if label is None else f" (true label {label})"
        return (
            see.terminal.blocks(inspection.input[..., 0], args.color)
            + "\n\n"
            + see.terminal.bars(inspection.output)
            + truth
        )
    write(see.probabilities(inspection, true_label=label), args, "probs.png")


def saliency(session, args, terminal=False):
    from striate import see

    x, _ = session.input()
    key = args.class_index
    key = int(key) if key.isdigit() else key
    try:
        inspection = see.inspect_model(session.model, x, key)
    except ValueError as error:
        raise UserError(str(error)) from None
    if terminal:
        return see.terminal.side_by_side(
            [
                see.terminal.blocks(inspection.input[..., 0], args.color),
                see.terminal.blocks(see.saliency_map(inspection), args.color),
            ],
            ["input", f"saliency, class {inspection.class_index}"],
        )
    write(see.saliency(inspection), args, "saliency.png")


def confusion(session, args):
    from striate import see

    (_, _), (x_test, y_test) = session.data()
    if args.limit is not None:
        x_test, y_test = x_test[: args.limit], y_test[: args.limit]
    predicted = session.model.predict(session.scale(x_test), verbose=0).argmax(axis=-1)
    write(see.confusion_picture(y_test, predicted), args, "confusion.png")
    for true, guess, count in see.most_confused(see.confusion_matrix(y_test, predicted)):
        print(f"  true {true} predicted {guess}: {count}")


def summary(session, args):
    from striate import see

    print(see.detailed_summary(session.model))


def curves(args):
    from striate import see

    load, picture = (
        (see.load_health, see.health_picture)
        if args.what == "health"
        else (see.load_history, see.training_curves)
    )
    try:
        history = load(args.history)
    except (OSError, ValueError) as error:
        raise UserError(str(error)) from None
    write(picture(history), args, f"{args.what}.png")


# the handlers of the pictures drawn from a model (`curves` and `--example` need none)
PICTURES = {
    "filters": filters,
    "maps": maps,
    "conv": conv,
    "pool": pool,
    "field": field,
    "probs": probs,
    "saliency": saliency,
    "confusion": confusion,
    "summary": summary,
}
