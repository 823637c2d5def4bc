"""`python -m dicomref.cli`: the same as the `dicomref` command."""

from dicomref.cli import main

main()
