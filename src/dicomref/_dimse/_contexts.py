"""Presentation contexts both ends of an association use: Verification, the query/retrieve
information models, and the storage classes and transfer syntaxes a client proposes.

The server offers :data:`VERIFICATION` and :data:`QUERY_MODELS` (with
:data:`COMMAND_SYNTAXES` and more); the client proposes :func:`requested_contexts`.
"""

from __future__ import annotations

from typing import Final

from pydicom import uid

from dicomref._dimse._levels import Root

VERIFICATION = uid.UID("1.2.840.10008.1.1")
QUERY_MODELS: Final[dict[tuple[Root, str], uid.UID]] = {
    (Root.PATIENT, "C-FIND"): uid.UID("1.2.840.10008.5.1.4.1.2.1.1"),
    (Root.PATIENT, "C-MOVE"): uid.UID("1.2.840.10008.5.1.4.1.2.1.2"),
    (Root.PATIENT, "C-GET"): uid.UID("1.2.840.10008.5.1.4.1.2.1.3"),
    (Root.STUDY, "C-FIND"): uid.UID("1.2.840.10008.5.1.4.1.2.2.1"),
    (Root.STUDY, "C-MOVE"): uid.UID("1.2.840.10008.5.1.4.1.2.2.2"),
    (Root.STUDY, "C-GET"): uid.UID("1.2.840.10008.5.1.4.1.2.2.3"),
}
COMMAND_SYNTAXES = (uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian)
UNCOMPRESSED = (
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.DeflatedExplicitVRLittleEndian,
)
JPEG_LOSSLESS = (uid.JPEGLosslessSV1, uid.JPEGLossless)
JPEG_2000 = (uid.JPEG2000Lossless, uid.JPEG2000)

IMAGE_STORAGE: Final = (
    uid.CTImageStorage,
    uid.EnhancedCTImageStorage,
    uid.MRImageStorage,
    uid.EnhancedMRImageStorage,
    uid.PositronEmissionTomographyImageStorage,
    uid.EnhancedPETImageStorage,
    uid.NuclearMedicineImageStorage,
    uid.UltrasoundImageStorage,
    uid.UltrasoundMultiFrameImageStorage,
    uid.ComputedRadiographyImageStorage,
    uid.DigitalXRayImageStorageForPresentation,
    uid.DigitalMammographyXRayImageStorageForPresentation,
    uid.SecondaryCaptureImageStorage,
    uid.XRayAngiographicImageStorage,
    uid.XRayRadiofluoroscopicImageStorage,
    uid.RTImageStorage,
    uid.VLPhotographicImageStorage,
)
"""Image classes: proposed for C-GET three times (uncompressed, JPEG lossless, JPEG 2000),
since a server without transcoding can only send an object in its stored syntax."""

OTHER_STORAGE: Final = (
    uid.RTDoseStorage,
    uid.RTStructureSetStorage,
    uid.RTPlanStorage,
    uid.RTIonPlanStorage,
    uid.RTBeamsTreatmentRecordStorage,
    uid.RTIonBeamsTreatmentRecordStorage,
    uid.RTBrachyTreatmentRecordStorage,
    uid.RTTreatmentSummaryRecordStorage,
    uid.SegmentationStorage,
    uid.SurfaceSegmentationStorage,
    uid.SpatialRegistrationStorage,
    uid.DeformableSpatialRegistrationStorage,
    uid.SpatialFiducialsStorage,
    uid.RealWorldValueMappingStorage,
    uid.ParametricMapStorage,
    uid.KeyObjectSelectionDocumentStorage,
    uid.BasicTextSRStorage,
    uid.EnhancedSRStorage,
    uid.ComprehensiveSRStorage,
    uid.Comprehensive3DSRStorage,
    uid.ExtensibleSRStorage,
    uid.XRayRadiationDoseSRStorage,
    uid.RadiopharmaceuticalRadiationDoseSRStorage,
    uid.GrayscaleSoftcopyPresentationStateStorage,
    uid.ColorSoftcopyPresentationStateStorage,
    uid.PseudoColorSoftcopyPresentationStateStorage,
    uid.BlendingSoftcopyPresentationStateStorage,
    uid.LegacyConvertedEnhancedCTImageStorage,
    uid.LegacyConvertedEnhancedMRImageStorage,
    uid.LegacyConvertedEnhancedPETImageStorage,
    uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    uid.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    uid.MultiFrameTrueColorSecondaryCaptureImageStorage,
    uid.DigitalXRayImageStorageForProcessing,
    uid.EncapsulatedPDFStorage,
    uid.RawDataStorage,
)
"""Non-image (or rarely compressed) classes: proposed for C-GET once, uncompressed."""

MAX_PRESENTATION_CONTEXTS = 128


def requested_contexts() -> list[tuple[uid.UID, tuple[uid.UID, ...]]]:
    """Every (abstract syntax, transfer syntaxes) dicomref proposes, in order."""
    contexts: list[tuple[uid.UID, tuple[uid.UID, ...]]] = [(VERIFICATION, COMMAND_SYNTAXES)]
    contexts += [(model, COMMAND_SYNTAXES) for model in QUERY_MODELS.values()]
    for storage in IMAGE_STORAGE:
        contexts += [(storage, UNCOMPRESSED), (storage, JPEG_LOSSLESS), (storage, JPEG_2000)]
    contexts += [(storage, UNCOMPRESSED) for storage in OTHER_STORAGE]
    assert len(contexts) <= MAX_PRESENTATION_CONTEXTS
    return contexts


STORAGE_CLASSES: Final = IMAGE_STORAGE + OTHER_STORAGE
