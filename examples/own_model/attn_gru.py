"""A student's own model: a GRU whose outputs are pooled by learned attention over the valid steps.

Plain Flax, written to mlexp's contract (README "Your own model"): a sequence model's `__call__` takes
(x [batch, time, channels], lengths [batch], *, train) and returns logits [batch, num_classes].
`dropout_rate` as a keyword of `__call__` makes `model.dropout` a knob that mlexp vmaps (one program for
many dropout values); `hidden` and `conv_filters` are fields, so trials with other values get other programs.
"""
import flax.linen as nn
import jax.numpy as jnp


class AttnGRU(nn.Module):
  num_classes: int  # filled in by mlexp from the data
  hidden: int = 32
  conv_filters: int = 0  # > 0: a Conv1d front end (kernel 3) before the GRU

  @nn.compact
  def __call__(self, x, lengths, *, train, dropout_rate=0.0):
    if self.conv_filters:
      x = nn.relu(nn.Conv(self.conv_filters, kernel_size=(3,), padding="SAME")(x))
    h = nn.RNN(nn.GRUCell(self.hidden))(x, seq_lengths=lengths)  # [batch, time, hidden]
    h = nn.Dropout(dropout_rate)(h, deterministic=not train)
    score = nn.Dense(1)(jnp.tanh(nn.Dense(self.hidden)(h)))[..., 0]  # [batch, time]
    valid = jnp.arange(x.shape[1])[None, :] < lengths[:, None]
    weights = nn.softmax(jnp.where(valid, score, -1e9), axis=-1)
    pooled = jnp.einsum("bt,bth->bh", weights, h)
    return nn.Dense(self.num_classes)(pooled)
