"""`python -m deformviz` runs the command line."""

from deformviz.cli import main

main()
