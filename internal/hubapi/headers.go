package hubapi

// Header and property names of IoT Hub's messages over HTTPS, both directions.
const (
	hdrMessageID       = "Iothub-Messageid"
	hdrCorrelationID   = "Iothub-Correlationid"
	hdrUserID          = "Iothub-Userid"
	hdrContentType     = "Iothub-Contenttype"
	hdrContentEncoding = "Iothub-Contentencoding"
	hdrAppPrefix       = "Iothub-App-"
	hdrDTSubject       = "Dt-Subject"
	appPrefix          = "iothub-app-"
)
