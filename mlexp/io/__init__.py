"""The imperative shell: files, TensorBoard, checkpoints, console progress."""
