"""Data-subject requests: intake, identity verification, deadlines, approval and the hand-over to execution."""
