"""``python -m toktool.cli`` (and ``torchrun -m toktool.cli zett train ...``)."""

from toktool.cli.app import main

main()
