"""Published forms of a policy: the record of processing activities and the privacy notice."""
