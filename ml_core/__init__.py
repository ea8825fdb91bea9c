"""torchplay's core: pure PyTorch models, datasets and training sessions.

Nothing here imports the web app; every module works on its own and is tested alone.
"""
