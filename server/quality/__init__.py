"""Annotator quality: throughput, flagged share, share inside GT, label agreement."""
