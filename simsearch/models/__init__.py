"""The Keras side of simsearch: towers, the pairwise head, losses, training and `SiameseModel`.

Importing this package imports Keras (and TensorFlow); `import simsearch` alone does not.
"""

from __future__ import annotations

from simsearch.models.bert import BertEncoder, FirstToken, MaskedMeanPooling, TransformerBlock
from simsearch.models.cross import CrossEncoder
from simsearch.models.face_tower import FaceTowerConfig, ResidualDense, build_face_tower
from simsearch.models.head import PairwiseHead, build_head_model
from simsearch.models.layers import RandomAffine
from simsearch.models.losses import (
    ContrastiveLoss,
    PairBCELoss,
    SoftmaxLoss,
    TripletLoss,
    contrastive_loss,
    pair_bce_loss,
    softmax_loss,
    triplet_loss,
)
from simsearch.models.pretrained import PositiveScale
from simsearch.models.record_layers import NumericEncoding
from simsearch.models.siamese import Comparison, SiameseModel
from simsearch.models.tokenizer import SubwordTokenizer
from simsearch.models.towers import (
    ImageTowerConfig,
    RecordTowerConfig,
    TextTowerConfig,
    build_image_tower,
    build_record_tower,
    build_text_tower,
)
from simsearch.models.training import train_items, train_pairs
from simsearch.train_config import TrainConfig

__all__ = [
    "BertEncoder",
    "Comparison",
    "ContrastiveLoss",
    "CrossEncoder",
    "FaceTowerConfig",
    "FirstToken",
    "ImageTowerConfig",
    "MaskedMeanPooling",
    "NumericEncoding",
    "PairBCELoss",
    "PairwiseHead",
    "PositiveScale",
    "RandomAffine",
    "RecordTowerConfig",
    "ResidualDense",
    "SiameseModel",
    "SoftmaxLoss",
    "SubwordTokenizer",
    "TextTowerConfig",
    "TrainConfig",
    "TransformerBlock",
    "TripletLoss",
    "build_face_tower",
    "build_head_model",
    "build_image_tower",
    "build_record_tower",
    "build_text_tower",
    "contrastive_loss",
    "pair_bce_loss",
    "softmax_loss",
    "train_items",
    "train_pairs",
    "triplet_loss",
]
