"""The monitor watching itself (DESIGN.md §5): a heartbeat to a dead man's switch while it works,
and a `monitor-self` incident, paged like any other, when it is the broken part."""
