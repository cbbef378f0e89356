"""Access: who may manage and see financial data, the gate every view passes, unusual use."""
