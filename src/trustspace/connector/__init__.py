"""The connector (接入连接器): a participant's door into the data space."""
