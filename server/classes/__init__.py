"""Classes over time: rename, merge one into another, retire and unretire."""
