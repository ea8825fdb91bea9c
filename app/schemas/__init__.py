"""Wire messages as pydantic models: common.py for every lab, one module per lab."""
