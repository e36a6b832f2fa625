// Placeholder: replaced by the I/O test probe.
print("spindle-io-probe")
