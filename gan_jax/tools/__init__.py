"""The command-line programs: train, generate, evaluate, report, export, style figures, the dataset
tool and the classifier's training, with their shared command-line helpers."""
