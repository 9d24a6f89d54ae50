"""The dial plan: features that decide what happens to a call, through CallContext verbs."""
