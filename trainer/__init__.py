"""tinymlp's batch trainer: the tasks, the training pipeline, the model store and the CLI."""
