"""The predictor's pure logic: the served model's protocol, the holder that swaps it, valuing a
batch, and the stored row."""
