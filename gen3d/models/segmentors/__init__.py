"""gen3d.models.segmentors: DeepLabV3+, the encoder-decoder and teacher-student methods (Mean Teacher, U2PL)."""

from .aspp import ASPP, aspp_rates
from .aux_head import FCNAuxHead
from .dacs import DACS as DACS  # explicit re-export
from .deeplabv3plus_head import DeepLabV3PlusHead, RepresentationHead
from .encoder_decoder import EncoderDecoder, ohem_cross_entropy
from .fst import FST
from .mean_teacher import MeanTeacher
from .teacher_student import TeacherStudentSegmentor
from .u2pl import U2PL

__all__ = [
    "ASPP",
    "DeepLabV3PlusHead",
    "EncoderDecoder",
    "FCNAuxHead",
    "FST",
    "MeanTeacher",
    "RepresentationHead",
    "TeacherStudentSegmentor",
    "U2PL",
    "aspp_rates",
    "ohem_cross_entropy",
]
