"""The model on every video: predict jobs for new features and on activation, and which
version a video's predictions come from."""
