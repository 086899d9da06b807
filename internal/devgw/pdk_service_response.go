package devgw

// serviceResponsePhases are the phases in which Kong allows the
// kong.service.response getters; in access they throw.
const serviceResponsePhases = "header_filter, response, body_filter, log"

func init() {
	registerPDK(map[string]pdkFunc{
		// kong.service.response (only after the response arrived)
		"kong.service.response.get_status":   phaseOnly(serviceResponsePhases),
		"kong.service.response.get_header":   phaseOnly(serviceResponsePhases),
		"kong.service.response.get_headers":  phaseOnly(serviceResponsePhases),
		"kong.service.response.get_raw_body": phaseOnly("response, body_filter"),
	})
}
