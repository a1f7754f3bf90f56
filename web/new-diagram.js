// The diagram a designer starts from: one pool, the employer and contractor lanes, a start event
// with a form, one user task and an end event — everything Lvyue's lint asks of a diagram.
export const NEW_DIAGRAM = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
                  xmlns:lvyue="http://lvyue.org/schema/bpmn/1.0"
                  id="defs_new_process" targetNamespace="http://lvyue.org/bpmn/new_process">
  <bpmn:collaboration id="collab_new_process">
    <bpmn:participant id="pool_new_process" name="New process (新流程)" processRef="new_process"/>
  </bpmn:collaboration>
  <bpmn:process id="new_process" name="New process (新流程)" isExecutable="true">
    <bpmn:laneSet id="laneset_new_process">
      <bpmn:lane id="lane_employer" name="employer">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>pay</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="lane_contractor" name="contractor"/>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="Delivered (已交付)">
      <bpmn:extensionElements>
        <lvyue:form>
          <lvyue:field name="delivered_at" type="date" required="true" label="交付日期"/>
          <lvyue:field name="amount" type="decimal" required="true" min="0" label="应付金额（元）"/>
        </lvyue:form>
      </bpmn:extensionElements>
      <bpmn:outgoing>flow_start_pay</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="pay" name="Pay (付款)">
      <bpmn:extensionElements>
        <lvyue:form>
          <lvyue:field name="paid_at" type="date" required="true" label="付款日期"/>
        </lvyue:form>
      </bpmn:extensionElements>
      <bpmn:incoming>flow_start_pay</bpmn:incoming>
      <bpmn:outgoing>flow_pay_end</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end" name="Paid (已付款)">
      <bpmn:incoming>flow_pay_end</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="flow_start_pay" sourceRef="start" targetRef="pay"/>
    <bpmn:sequenceFlow id="flow_pay_end" sourceRef="pay" targetRef="end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_new_process">
    <bpmndi:BPMNPlane id="plane_new_process" bpmnElement="collab_new_process">
      <bpmndi:BPMNShape id="pool_new_process_di" bpmnElement="pool_new_process" isHorizontal="true">
        <dc:Bounds x="100" y="60" width="760" height="400"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="lane_employer_di" bpmnElement="lane_employer" isHorizontal="true">
        <dc:Bounds x="130" y="60" width="730" height="250"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="lane_contractor_di" bpmnElement="lane_contractor" isHorizontal="true">
        <dc:Bounds x="130" y="310" width="730" height="150"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="182" y="112" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="pay_di" bpmnElement="pay">
        <dc:Bounds x="300" y="90" width="120" height="80"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end">
        <dc:Bounds x="700" y="112" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="flow_start_pay_di" bpmnElement="flow_start_pay">
        <di:waypoint x="218" y="130"/><di:waypoint x="300" y="130"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="flow_pay_end_di" bpmnElement="flow_pay_end">
        <di:waypoint x="420" y="130"/><di:waypoint x="700" y="130"/>
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
`;
