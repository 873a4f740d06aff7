"""Reports: the one DVC metrics file, a markdown report and PNG plots."""
