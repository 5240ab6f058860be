"""The error of a dump or index that cannot be read, raised alike by its decoding, its page scanning and the
extraction that drives them."""

from tasks.core.errors import InputError


class ExtractError(InputError):
    """A dump or index that cannot be read; the message names the file and where reading stopped."""
