"""BackTAL trainer: data, network, losses, post-processing, evaluation and training.

Never imports the web server; the server's worker adapts its rows to these inputs.
"""
