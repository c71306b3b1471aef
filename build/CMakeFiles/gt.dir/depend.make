# Empty dependencies file for gt.
# This may be replaced when dependencies are built.
