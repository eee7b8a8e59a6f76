"""The one exception type the command line turns into a single clear line and a non-zero exit."""


class LgmposeError(Exception):
    """A problem with the user's input (a file, a value, a model) that they can fix.

    The message must name the input and the problem, e.g.
    ``"cannot read image 'a.jpg': not an image file"``.
    """
