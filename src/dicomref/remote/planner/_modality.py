"""The Modality a SOP class implies, and the reference sequences worth asking C-FIND for.

A SERIES-level C-FIND filtered by Modality narrows the search for a structure set to the
RTSTRUCT series of a study.  Classes whose series modality varies (secondary capture,
encapsulated documents from many sources, …) map to ``None``: search unfiltered.
"""

from __future__ import annotations

from pydicom import uid as _uid

_EXPLICIT: dict[str, str] = {
    _uid.CTImageStorage: "CT",
    _uid.EnhancedCTImageStorage: "CT",
    _uid.LegacyConvertedEnhancedCTImageStorage: "CT",
    _uid.MRImageStorage: "MR",
    _uid.EnhancedMRImageStorage: "MR",
    _uid.EnhancedMRColorImageStorage: "MR",
    _uid.LegacyConvertedEnhancedMRImageStorage: "MR",
    _uid.MRSpectroscopyStorage: "MR",
    _uid.PositronEmissionTomographyImageStorage: "PT",
    _uid.EnhancedPETImageStorage: "PT",
    _uid.LegacyConvertedEnhancedPETImageStorage: "PT",
    _uid.NuclearMedicineImageStorage: "NM",
    _uid.UltrasoundImageStorage: "US",
    _uid.UltrasoundMultiFrameImageStorage: "US",
    _uid.EnhancedUSVolumeStorage: "US",
    _uid.ComputedRadiographyImageStorage: "CR",
    _uid.DigitalXRayImageStorageForPresentation: "DX",
    _uid.DigitalXRayImageStorageForProcessing: "DX",
    _uid.DigitalMammographyXRayImageStorageForPresentation: "MG",
    _uid.DigitalMammographyXRayImageStorageForProcessing: "MG",
    _uid.XRayAngiographicImageStorage: "XA",
    _uid.EnhancedXAImageStorage: "XA",
    _uid.XRayRadiofluoroscopicImageStorage: "RF",
    _uid.EnhancedXRFImageStorage: "RF",
    _uid.RTStructureSetStorage: "RTSTRUCT",
    _uid.RTPlanStorage: "RTPLAN",
    _uid.RTIonPlanStorage: "RTPLAN",
    _uid.RTDoseStorage: "RTDOSE",
    _uid.RTImageStorage: "RTIMAGE",
    _uid.RTBeamsTreatmentRecordStorage: "RTRECORD",
    _uid.RTBrachyTreatmentRecordStorage: "RTRECORD",
    _uid.RTTreatmentSummaryRecordStorage: "RTRECORD",
    _uid.RTIonBeamsTreatmentRecordStorage: "RTRECORD",
    _uid.SegmentationStorage: "SEG",
    _uid.SurfaceSegmentationStorage: "SEG",
    _uid.KeyObjectSelectionDocumentStorage: "KO",
    _uid.SpatialRegistrationStorage: "REG",
    _uid.DeformableSpatialRegistrationStorage: "REG",
    _uid.SpatialFiducialsStorage: "FID",
    _uid.RealWorldValueMappingStorage: "RWV",
    _uid.EncapsulatedPDFStorage: "DOC",
    _uid.ProcedureLogStorage: "SR",
}

#: Reference sequences to ask back as C-FIND return keys, by the modality of the object
#: being found, on servers that return sequence contents (Orthanc).  Standard keys only.
REFERENCE_SEQUENCES: dict[str, tuple[str, ...]] = {
    "RTSTRUCT": ("ReferencedFrameOfReferenceSequence",),
    "RTPLAN": ("ReferencedStructureSetSequence", "ReferencedDoseSequence"),
    "RTDOSE": ("ReferencedRTPlanSequence", "ReferencedStructureSetSequence"),
    "RTRECORD": ("ReferencedRTPlanSequence",),
    "RTIMAGE": ("ReferencedRTPlanSequence",),
    "SEG": ("ReferencedSeriesSequence",),
    "PR": ("ReferencedSeriesSequence",),
    "KO": ("CurrentRequestedProcedureEvidenceSequence",),
    "SR": ("CurrentRequestedProcedureEvidenceSequence",),
    "REG": ("ReferencedSeriesSequence", "StudiesContainingOtherReferencedInstancesSequence"),
}


def modality_for(sop_class: str | None) -> str | None:
    """The Modality (0008,0060) a series holding ``sop_class`` objects carries, if fixed.

    Explicit table first, then pydicom's UID names: every "… SR Storage" class is
    ``SR``, every "… Presentation State Storage" class is ``PR``.  ``None`` when the
    class is unknown or its modality varies.
    """
    if not sop_class:
        return None
    known = _EXPLICIT.get(sop_class)
    if known is not None:
        return known
    name = _uid.UID(sop_class).name
    if name.endswith(("SR Storage", "SR Storage - Trial")):
        return "SR"
    if "Presentation State Storage" in name:
        return "PR"
    return None


def reference_sequences(modalities: set[str | None]) -> tuple[str, ...]:
    """The return keys worth asking for when finding objects of these modalities (sorted)."""
    keys: set[str] = set()
    for modality in modalities:
        if modality is not None:
            keys.update(REFERENCE_SEQUENCES.get(modality, ()))
    return tuple(sorted(keys))
