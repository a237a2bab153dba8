// common.glsl: conventions shared by every shader.
// Specialization constants 0..2 are the workgroup size (see src/gpu/pipeline.h).
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

// Flat index of this invocation for 1-D dispatches that may use gl_NumWorkGroups.y
// to exceed 65535 workgroups.
uint flat_index() {
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}
