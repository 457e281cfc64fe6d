"""``python -m mpesa_daraja_kit.cli``."""

from mpesa_daraja_kit.cli import main

main()
