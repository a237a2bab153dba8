// gpu.c: instance and device selection (discrete > integrated > virtual > CPU,
// overridable by --device N or $VKPREF_DEVICE), logical device and queue, the
// validation-layer messenger that counts messages so tests can fail on them.
#include "gpu/gpu.h"

#include <stdlib.h>
#include <string.h>

#include "gpu/kernel_cache.h"
#include "gpu/vk_check.h"
#include "util/check.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

// ---------------------------------------------------------------------------
// Device facts shared by selection and `vkpref info`.

typedef struct DeviceFacts {
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceDriverProperties driver;
    uint32_t subgroup_size;
    bool fp16, storage16, coopmat, push_descriptor;
    int compute_family;  // -1 when the device has no compute queue
    bool usable;
    const char* why_unusable;
} DeviceFacts;

static bool has_extension(const VkExtensionProperties* ext, uint32_t n, const char* name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(ext[i].extensionName, name) == 0) return true;
    return false;
}

static DeviceFacts device_facts(VkPhysicalDevice pd) {
    DeviceFacts f;
    memset(&f, 0, sizeof f);
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    f.driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    f.driver.pNext = &sub;
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &f.driver};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    f.props = p2.properties;
    f.subgroup_size = sub.subgroupSize;

    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, .pNext = &s16};
    VkPhysicalDeviceFeatures2 feat = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f16};
    vkGetPhysicalDeviceFeatures2(pd, &feat);
    f.fp16 = f16.shaderFloat16;
    f.storage16 = s16.storageBuffer16BitAccess;

    uint32_t next = 0;
    VK_CHECK(vkEnumerateDeviceExtensionProperties(pd, NULL, &next, NULL));
    VkExtensionProperties* ext = xcalloc(next, sizeof *ext);
    VK_CHECK(vkEnumerateDeviceExtensionProperties(pd, NULL, &next, ext));
    f.coopmat = has_extension(ext, next, "VK_KHR_cooperative_matrix");
    f.push_descriptor = has_extension(ext, next, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    free(ext);

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties* q = xcalloc(nq, sizeof *q);
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
    f.compute_family = -1;
    for (uint32_t i = 0; i < nq; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) { f.compute_family = (int)i; break; }
    free(q);

    f.usable = true;
    if (f.props.apiVersion < VK_API_VERSION_1_2) f.usable = false, f.why_unusable = "needs Vulkan 1.2";
    else if (f.compute_family < 0) f.usable = false, f.why_unusable = "no compute queue";
    else if (!f.push_descriptor) f.usable = false, f.why_unusable = "no VK_KHR_push_descriptor";
    return f;
}

static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

static const char* type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

// forced >= 0 wins, then $VKPREF_DEVICE, then the nth (modulo their count) of
// the usable devices of the best-ranked type.
static int pick_device(VkPhysicalDevice* pds, uint32_t n, int forced, int nth) {
    if (forced < 0) {
        const char* env = getenv("VKPREF_DEVICE");
        if (env && *env) forced = atoi(env);
    }
    if (forced >= 0) {
        if ((uint32_t)forced >= n) die("device %d requested, but only %u Vulkan device(s) exist (see `vkpref info`)", forced, n);
        DeviceFacts f = device_facts(pds[forced]);
        if (!f.usable) die("device %d (%s) cannot be used: %s", forced, f.props.deviceName, f.why_unusable);
        return forced;
    }
    enum { MAX_RANKED = 64 };  // devices considered (more than any machine has)
    int rank[MAX_RANKED], best_rank = -1, nbest = 0;
    for (uint32_t i = 0; i < n && i < MAX_RANKED; i++) {
        DeviceFacts f = device_facts(pds[i]);
        rank[i] = f.usable ? type_rank(f.props.deviceType) : -1;
        if (rank[i] > best_rank) best_rank = rank[i], nbest = 0;
        nbest += rank[i] == best_rank;
    }
    int best = -1;
    for (uint32_t i = 0, k = 0; best_rank >= 0 && i < n && i < MAX_RANKED; i++)
        if (rank[i] == best_rank && (int)k++ == (nth > 0 ? nth : 0) % nbest) best = (int)i;
    return best;
}

// ---------------------------------------------------------------------------
// Instance

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                            VkDebugUtilsMessageTypeFlagsEXT type,
                                                            const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                            void* user) {
    GpuContext* g = user;
    if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        // Pipelines compile on worker threads (pipeline.c): the layer may call from any of them.
        __atomic_fetch_add(&g->validation_messages, 1, __ATOMIC_RELAXED);
        fprintf(stderr, "vkpref: validation %s: %s\n",
                severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning", data->pMessage);
    }
    return VK_FALSE;
}

static bool layer_present(const char* name) {
    uint32_t n = 0;
    VK_CHECK(vkEnumerateInstanceLayerProperties(&n, NULL));
    VkLayerProperties* l = xcalloc(n, sizeof *l);
    VK_CHECK(vkEnumerateInstanceLayerProperties(&n, l));
    bool found = false;
    for (uint32_t i = 0; i < n; i++) found |= strcmp(l[i].layerName, name) == 0;
    free(l);
    return found;
}

static VkResult create_instance(VkInstance* out, bool validation) {
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "vkpref",
                             .apiVersion = VK_API_VERSION_1_2};
    const char* layers[] = {VALIDATION_LAYER};
    const char* exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app,
                               .enabledLayerCount = validation ? 1 : 0, .ppEnabledLayerNames = layers,
                               .enabledExtensionCount = validation ? 1 : 0, .ppEnabledExtensionNames = exts};
    return vkCreateInstance(&ci, NULL, out);
}

static bool env_flag(const char* name) {
    const char* v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

// ---------------------------------------------------------------------------

int gpu_init(GpuContext* g, const GpuOptions* opt) {
    memset(g, 0, sizeof *g);
    const char* lose = getenv("VKPREF_FAULT_DEVICE_LOST_AFTER");
    if (lose && *lose) g->lose_device_after = strtol(lose, NULL, 10);
    bool validation = opt->validation || env_flag("VKPREF_VALIDATION");
    if (validation && !layer_present(VALIDATION_LAYER)) {
        fprintf(stderr, "vkpref: the Khronos validation layer was requested but is not installed "
                        "(Debian package vulkan-validationlayers)\n");
        return -2;
    }
    VkResult r = create_instance(&g->instance, validation);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) return -1;  // no Vulkan driver at all
    VK_CHECK(r);
    if (validation) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT,
            .pfnUserCallback = on_validation_message, .pUserData = g};
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(g->instance, "vkCreateDebugUtilsMessengerEXT");
        if (!create) die("vkCreateDebugUtilsMessengerEXT is missing although validation is on");
        VK_CHECK(create(g->instance, &mi, NULL, &g->messenger));
    }

    uint32_t n = 0;
    VK_CHECK(vkEnumeratePhysicalDevices(g->instance, &n, NULL));
    if (n == 0) { gpu_free(g); return -1; }
    VkPhysicalDevice* pds = xcalloc(n, sizeof *pds);
    VK_CHECK(vkEnumeratePhysicalDevices(g->instance, &n, pds));
    int idx = pick_device(pds, n, opt->device, opt->nth);
    if (idx < 0) { free(pds); gpu_free(g); return -1; }
    g->phys = pds[idx];
    g->device_index = idx;
    free(pds);

    DeviceFacts f = device_facts(g->phys);
    g->props = f.props;
    g->driver = f.driver;
    g->subgroup_size = f.subgroup_size ? f.subgroup_size : 1;
    g->has_fp16 = f.fp16 && f.storage16;
    g->has_coopmat = f.coopmat;
    g->queue_family = (uint32_t)f.compute_family;
    vkGetPhysicalDeviceMemoryProperties(g->phys, &g->memprops);

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = g->queue_family, .queueCount = 1, .pQueuePriorities = &prio};
    const char* dev_exts[] = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi, .enabledExtensionCount = 1, .ppEnabledExtensionNames = dev_exts};
    VK_CHECK(vkCreateDevice(g->phys, &di, NULL, &g->device));
    vkGetDeviceQueue(g->device, g->queue_family, 0, &g->queue);
    g->push_descriptor = (PFN_vkCmdPushDescriptorSetKHR)vkGetDeviceProcAddr(g->device, "vkCmdPushDescriptorSetKHR");
    if (!g->push_descriptor) die("vkCmdPushDescriptorSetKHR not found on %s", g->props.deviceName);

    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = g->queue_family};
    VK_CHECK(vkCreateCommandPool(g->device, &pi, NULL, &g->pool));
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_CHECK(vkCreateFence(g->device, &fi, NULL, &g->fence));

    // Per-device choices. CPU drivers (lavapipe) execute shared memory as plain
    // memory with per-lane loops, so staging halves speed there (PERFORMANCE.md).
    g->tune.wg_size = 64;
    g->tune.use_shared_memory = g->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
    // LP_MAX_TGSI_LOOP_ITERATIONS = 65535, less a margin for the short fixed loops
    // (per-row setup, subgroup sums) that the kernels' own counts leave out.
    g->tune.loop_budget = g->driver.driverID == VK_DRIVER_ID_MESA_LLVMPIPE ? 64000 : 0;
    g->force_staging = env_flag("VKPREF_FORCE_STAGING");

    if (!opt->quiet)
        fprintf(stderr, "vkpref: device %d: %s (%s, %s)\n", idx, g->props.deviceName, type_name(g->props.deviceType),
                g->driver.driverName);
    return 0;
}

void gpu_free(GpuContext* g) {
    if (g->device) {
        vkDeviceWaitIdle(g->device);
        kernel_cache_free(g);
        if (g->fence) vkDestroyFence(g->device, g->fence, NULL);
        if (g->pool) vkDestroyCommandPool(g->device, g->pool, NULL);
        vkDestroyDevice(g->device, NULL);
    }
    if (g->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(g->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(g->instance, g->messenger, NULL);
    }
    if (g->instance) vkDestroyInstance(g->instance, NULL);
    int msgs = g->validation_messages;
    memset(g, 0, sizeof *g);
    g->validation_messages = msgs;
}

int gpu_print_devices(FILE* out, int forced_device) {
    VkInstance inst;
    VkResult r = create_instance(&inst, false);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        fprintf(out, "no Vulkan driver found. Install one, e.g. Debian's mesa-vulkan-drivers (lavapipe, CPU).\n");
        return -1;
    }
    VK_CHECK(r);
    uint32_t n = 0;
    VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, NULL));
    VkPhysicalDevice* pds = xcalloc(n ? n : 1, sizeof *pds);
    VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, pds));
    int chosen = n ? pick_device(pds, n, forced_device, 0) : -1;
    fprintf(out, "Vulkan devices: %u\n", n);
    for (uint32_t i = 0; i < n; i++) {
        DeviceFacts f = device_facts(pds[i]);
        const VkPhysicalDeviceLimits* L = &f.props.limits;
        fprintf(out, "%s[%u] %s\n", (int)i == chosen ? "* " : "  ", i, f.props.deviceName);
        fprintf(out, "      type: %s   driver: %s %s   Vulkan %u.%u.%u\n", type_name(f.props.deviceType),
                f.driver.driverName, f.driver.driverInfo, VK_API_VERSION_MAJOR(f.props.apiVersion),
                VK_API_VERSION_MINOR(f.props.apiVersion), VK_API_VERSION_PATCH(f.props.apiVersion));
        fprintf(out, "      subgroup size: %u   shared memory: %u KiB   max workgroup invocations: %u\n",
                f.subgroup_size, L->maxComputeSharedMemorySize / 1024, L->maxComputeWorkGroupInvocations);
        fprintf(out, "      max storage buffer range: %u MiB   max texel buffer elements: %u Mi\n",
                L->maxStorageBufferRange >> 20, L->maxTexelBufferElements >> 20);
        fprintf(out, "      fp16 arithmetic: %s   16-bit storage: %s   cooperative matrix: %s\n", f.fp16 ? "yes" : "no",
                f.storage16 ? "yes" : "no", f.coopmat ? "yes" : "no");
        if (!f.usable) fprintf(out, "      not usable: %s\n", f.why_unusable);
    }
    if (chosen >= 0) fprintf(out, "selected: device %d (override with --device N or VKPREF_DEVICE=N)\n", chosen);
    else fprintf(out, "no usable device\n");
    free(pds);
    vkDestroyInstance(inst, NULL);
    return chosen;
}

void gpu_print_version(FILE* out) {
    uint32_t v = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion(&v) != VK_SUCCESS) v = VK_API_VERSION_1_0;
    fprintf(out, "Vulkan loader: %u.%u.%u\n", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v), VK_API_VERSION_PATCH(v));
    VkInstance inst;
    if (create_instance(&inst, false) != VK_SUCCESS) {
        fprintf(out, "default device: none (no Vulkan driver; see `vkpref info`)\n");
        return;
    }
    uint32_t n = 0;
    VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, NULL));
    VkPhysicalDevice* pds = xcalloc(n ? n : 1, sizeof *pds);
    VK_CHECK(vkEnumeratePhysicalDevices(inst, &n, pds));
    int chosen = n ? pick_device(pds, n, -1, 0) : -1;
    if (chosen >= 0) {
        DeviceFacts f = device_facts(pds[chosen]);
        fprintf(out, "default device: [%d] %s, driver %s %s\n", chosen, f.props.deviceName, f.driver.driverName,
                f.driver.driverInfo);
    } else {
        fprintf(out, "default device: none usable (see `vkpref info`)\n");
    }
    free(pds);
    vkDestroyInstance(inst, NULL);
}

VkCommandBuffer gpu_begin_oneshot(GpuContext* g) {
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = g->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    VkCommandBuffer cb;
    VK_CHECK(vkAllocateCommandBuffers(g->device, &ai, &cb));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VK_CHECK(vkBeginCommandBuffer(cb, &bi));
    return cb;
}

void gpu_end_oneshot(GpuContext* g, VkCommandBuffer cb) {
    VK_CHECK(vkEndCommandBuffer(cb));
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
    VK_CHECK(vkQueueSubmit(g->queue, 1, &si, g->fence));
    VK_CHECK(vkWaitForFences(g->device, 1, &g->fence, VK_TRUE, UINT64_MAX));
    VK_CHECK(vkResetFences(g->device, 1, &g->fence));
    vkFreeCommandBuffers(g->device, g->pool, 1, &cb);
}
