"""The forward and backward signals of each hidden layer that the gradient flow at initialisation records beside
its weight gradient (``initflow``), by column name with their meaning (torch-free: the report reads them)."""

SIGNALS = {
    "pre_mean": "mean of the activation's input (the pre-activation)",
    "pre_std": "standard deviation of the pre-activation",
    "pre_q05": "5% quantile of the pre-activation",
    "pre_q95": "95% quantile of the pre-activation",
    "slope": "mean slope of the activation at its inputs: the factor it multiplies the backward signal by",
    "forward_rms": "root mean square of the layer's output (the forward signal)",
    "backward_rms": "root mean square of the gradient reaching the layer's output (the backward signal)",
}
