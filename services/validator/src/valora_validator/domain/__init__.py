"""Pure logic of the validator: the declarative data contract and its evaluation."""
