"""Retention enforcement: rules from the policy's collections, run in resumable batches, with notices and legal holds."""
