"""Exact nearest-neighbour search over a memory bank: faiss on CPU, chunked matmul on CUDA."""

from __future__ import annotations

from typing import TYPE_CHECKING

import faiss
import numpy as np

if TYPE_CHECKING:
    import torch


class NearestNeighbors:
    """Exact L2 k-NN over ``bank`` (M x D float32).  ``search`` returns squared distances.

    ``backend="auto"`` uses faiss on CPU and torch matrix products on CUDA (no faiss-gpu needed);
    ``"torch"`` forces the latter on any device (tests run that path on CPU).
    """

    def __init__(self, bank: np.ndarray, device: torch.device | str = "cpu", query_chunk: int = 4096,
                 backend: str = "auto", threads: int | None = None):
        self.bank = np.ascontiguousarray(bank, dtype=np.float32)
        if self.bank.ndim != 2 or len(self.bank) == 0:
            raise ValueError("the memory bank must be a non-empty 2-D array")
        self.device = str(device)
        self.query_chunk = query_chunk
        if backend not in ("auto", "faiss", "torch"):
            raise ValueError(f"unknown backend {backend!r}")
        self.backend = backend if backend != "auto" else ("torch" if self.device.startswith("cuda") else "faiss")
        if self.backend == "torch":
            import torch

            self._bank_t = torch.from_numpy(self.bank).to(self.device)
            self._bank_sq = (self._bank_t * self._bank_t).sum(1)
        else:
            from hamacho_core.machine import default_threads

            faiss.omp_set_num_threads(threads or default_threads())  # the runtime's fixed share of the CPU
            self._index = faiss.IndexFlatL2(self.bank.shape[1])
            self._index.add(self.bank)

    def __len__(self) -> int:
        return len(self.bank)

    @property
    def dim(self) -> int:
        return self.bank.shape[1]

    def search(self, queries: np.ndarray | torch.Tensor, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Squared distances (N, k) ascending and bank indices (N, k)."""
        k = min(k, len(self.bank))
        if self.backend == "torch":
            return self._search_torch(queries, k)
        if hasattr(queries, "detach"):  # a torch tensor
            queries = queries.detach().cpu().numpy()
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise ValueError(f"query dimension {queries.shape[1]} != bank dimension {self.dim}")
        dist, idx = self._index.search(queries, k)
        return np.maximum(dist, 0.0), idx

    def _search_torch(self, queries: np.ndarray | torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        import torch

        q_all = torch.as_tensor(queries, dtype=torch.float32).to(self.device)
        dists, idxs = [], []
        for start in range(0, len(q_all), self.query_chunk):
            q = q_all[start:start + self.query_chunk]
            d = torch.addmm(self._bank_sq[None, :], q, self._bank_t.T, alpha=-2.0)
            d += (q * q).sum(1, keepdim=True)
            top = torch.topk(d, k, dim=1, largest=False)
            dists.append(top.values.clamp_min_(0.0).cpu())
            idxs.append(top.indices.cpu())
        return torch.cat(dists).numpy(), torch.cat(idxs).numpy().astype(np.int64)
