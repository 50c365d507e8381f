// SPDX-License-Identifier: Apache-2.0
/*
 * The preset dictionaries the Kubernetes source deflates its objects' texts
 * with (sl_text_new_dict): per kind, the field names and common values of
 * the trimmed objects kube_watch.c holds (trim_core), in both orders they
 * come in (a list's items without kind and apiVersion, which are added
 * last; a watch event's object with them first). Generic Kubernetes
 * shapes: the strings most objects repeat, the likeliest near the end
 * (deflate's shorter distances). Changing a dictionary changes no stored
 * text's meaning: each text keeps the dictionary it was deflated with.
 */
#include <string.h>

#include "sluiced/kube_int.h"

#define META_HEAD							\
	"{\"kind\":\"\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\""
#define META_TAIL							\
	"\"deletionTimestamp\":\"2025-01-01T00:00:00Z\","		\
	"\"annotations\":{\"sluice.io/\":\"\"},"				\
	"\"labels\":{\"app.kubernetes.io/instance\":\"\","		\
	"\"app.kubernetes.io/component\":\"\",\"app.kubernetes.io/part-of\":\"\"," \
	"\"app.kubernetes.io/version\":\"\",\"app.kubernetes.io/name\":\"\","	\
	"\"version\":\"v1\",\"app\":\""

static const char pod_dict[] =
	META_HEAD META_TAIL
	"\"controller-revision-hash\":\"\",\"statefulset.kubernetes.io/pod-name\":\"\","
	"\"pod-template-hash\":\"\"}},"
	"\"spec\":{\"containers\":[{\"ports\":[{\"name\":\"http\",\"containerPort\":8080,"
	"\"protocol\":\"TCP\"}]}]},\"status\":{\"phase\":\"Pending\"}"
	"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\""
	"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.\",\"podIPs\":[{\"ip\":\"10.\"}]},"
	"\"kind\":\"Pod\",\"apiVersion\":\"v1\"}"
	"{\"metadata\":{\"name\":\"\",\"namespace\":\"default\",\"uid\":\"\","
	"\"labels\":{\"app\":\"\",\"version\":\"v1\"}},\"spec\":{},"
	"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1\"},\"kind\":\"Pod\","
	"\"apiVersion\":\"v1\"}";

static const char slice_dict[] =
	META_HEAD META_TAIL
	"\"endpointslice.kubernetes.io/managed-by\":\"endpointslice-controller.k8s.io\","
	"\"kubernetes.io/service-name\":\"\"}},"
	"\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"http\",\"port\":8080,"
	"\"protocol\":\"TCP\",\"appProtocol\":\"http\"}],"
	"\"conditions\":{\"ready\":false,\"serving\":false,\"terminating\":true},"
	"{\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\",\"metadata\":{"
	"\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\"}"
	"{\"metadata\":{\"name\":\"\",\"namespace\":\"default\",\"uid\":\"\","
	"\"labels\":{\"kubernetes.io/service-name\":\"\"}},\"addressType\":\"IPv4\","
	"\"ports\":[{\"name\":\"tcp\",\"port\":9000,\"protocol\":\"TCP\"}],\"endpoints\":["
	"{\"addresses\":[\"10.\"],\"conditions\":{\"ready\":true,\"serving\":true,"
	"\"terminating\":false},\"targetRef\":{\"kind\":\"Pod\",\"name\":\"\"}},"
	"{\"addresses\":[\"10.1\"],\"conditions\":{\"ready\":true,\"serving\":true,"
	"\"terminating\":false},\"targetRef\":{\"kind\":\"Pod\",\"name\":\"\"}},";

static const char svc_dict[] =
	META_HEAD META_TAIL "\"}},"
	"\"spec\":{\"type\":\"ClusterIP\",\"sessionAffinity\":\"None\","
	"\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":\"SingleStack\","
	"\"internalTrafficPolicy\":\"Cluster\",\"publishNotReadyAddresses\":true,"
	"\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080,"
	"\"appProtocol\":\"http\"},{\"name\":\"grpc\",\"protocol\":\"TCP\",\"port\":443,"
	"\"targetPort\":\"https\"}]},"
	"{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{"
	"\"kind\":\"Service\",\"apiVersion\":\"v1\"}"
	"{\"metadata\":{\"name\":\"\",\"namespace\":\"default\",\"uid\":\"\"},"
	"\"spec\":{\"clusterIP\":\"10.96.\",\"clusterIPs\":[\"10.96.\"],"
	"\"selector\":{\"app\":\"\"},\"ports\":[{\"name\":\"tcp\",\"protocol\":\"TCP\",\"port\":"
	"{\"metadata\":{\"name\":\"\",\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.\","
	"\"clusterIPs\":[\"10.96.\"],\"selector\":{\"app\":\"\"},\"ports\":[{\"name\":\"tcp\","
	"\"port\":80,\"targetPort\":8080}]},\"kind\":\"Service\",\"apiVersion\":\"v1\"}";

/* the networking.istio.io kinds: their specs whole, metadata but
 * managedFields and resourceVersion */
static const char istio_dict[] =
	"{\"kind\":\"VirtualService\",\"apiVersion\":\"networking.istio.io/v1\","
	"\"kind\":\"ServiceEntry\",\"kind\":\"WorkloadEntry\",\"kind\":\"Sidecar\","
	"\"kind\":\"Gateway\",\"spec\":{\"selector\":{\"istio\":\"ingressgateway\"},"
	"\"servers\":[{\"port\":{\"number\":443,\"name\":\"https\",\"protocol\":\"HTTPS\"},"
	"\"tls\":{\"mode\":\"SIMPLE\",\"credentialName\":\"\"},\"hosts\":[\"\"]}]},"
	"\"spec\":{\"hosts\":[\"\"],\"location\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\","
	"\"ports\":[{\"number\":80,\"name\":\"http\",\"protocol\":\"HTTP\"}],"
	"\"endpoints\":[{\"address\":\"\"}]},\"egress\":[{\"hosts\":[\"./*\"]}],"
	"\"workloadSelector\":{\"labels\":{\"app\":\"\"}},"
	"\"spec\":{\"address\":\"\",\"labels\":{\"app\":\"\",\"version\":\"v1\"}},"
	"\"retries\":{\"attempts\":3,\"perTryTimeout\":\"2s\"},\"timeout\":\"10s\","
	"\"fault\":{\"delay\":{\"percentage\":{\"value\":},\"fixedDelay\":\"5s\"}},"
	"\"match\":[{\"uri\":{\"prefix\":\"/\"},\"headers\":{\"\":{\"exact\":\"\"}}}],"
	"\"trafficPolicy\":{\"loadBalancer\":{\"simple\":\"ROUND_ROBIN\"},"
	"\"connectionPool\":{\"tcp\":{\"maxConnections\":100}},"
	"\"outlierDetection\":{\"consecutive5xxErrors\":5,\"interval\":\"10s\","
	"\"baseEjectionTime\":\"30s\"}},"
	"\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"\"},"
	"\"creationTimestamp\":\"2025-01-01T00:00:00Z\",\"generation\":1,"
	"\"name\":\"\",\"namespace\":\"default\",\"uid\":\"\"},"
	"{\"kind\":\"DestinationRule\",\"apiVersion\":\"networking.istio.io/v1\","
	"\"spec\":{\"host\":\"\",\"subsets\":[{\"name\":\"v1\",\"labels\":{\"version\":\"v1\"}},"
	"{\"name\":\"v2\",\"labels\":{\"version\":\"v2\"}}]},"
	"\"kind\":\"VirtualService\",\"apiVersion\":\"networking.istio.io/v1\"}"
	"\"spec\":{\"hosts\":[\"\"],\"http\":[{\"route\":[{\"destination\":{\"host\":\"\","
	"\"subset\":\"v1\"},\"weight\":90},{\"destination\":{\"host\":\"\",\"subset\":\"v2\"},"
	"\"weight\":10}]}]}";

#define DICT(a) { a, sizeof(a) - 1 }
static const struct sl_text_dict dicts[] = {
	DICT(pod_dict), DICT(slice_dict), DICT(svc_dict), DICT(istio_dict),
};

const struct sl_text_dict *kube_dict(const char *kind)
{
	if (!strcmp(kind, "Pod"))
		return &dicts[0];
	if (!strcmp(kind, "EndpointSlice"))
		return &dicts[1];
	if (!strcmp(kind, "Service"))
		return &dicts[2];
	return &dicts[3];
}
