"""TrustSpace: a trusted data space (可信数据空间)."""

__version__ = "0.1.0"
